//! What a request asks a model to do. Chat is what every format was first written for; the
//! others (embeddings, image generation) have their own bodies, and their translators are
//! registered under their operation, with OpenAI's shape of that operation as the hub. Audio
//! and image edits ([`Operation::raw_body`]) are not translated: their bytes pass through.

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    #[default]
    /// Generate text in a conversation (chat completions, Messages, generateContent...).
    Chat,
    /// Legacy text completions (`/v1/completions`): served as is by a provider that has the
    /// endpoint, and as chat (see [`Operation::via_chat`]) by the others.
    Completions,
    /// Turn text into vectors (`/v1/embeddings`, Gemini `embedContent`).
    Embeddings,
    /// Generate images from a prompt (`/v1/images/generations`, Imagen `predict`).
    Images,
    /// Text to speech (`/v1/audio/speech`): audio bytes come back, passed on as they come.
    Speech,
    /// Speech to text (`/v1/audio/transcriptions`), from a multipart upload.
    Transcriptions,
    /// Speech to English text (`/v1/audio/translations`), from a multipart upload.
    Translations,
    /// Edit images (`/v1/images/edits`), from a multipart upload.
    ImageEdits,
    /// Generate a video (`/v1/videos`, Veo `predictLongRunning`): a long-running job whose
    /// answer is fetched later, so it has its own life apart from chat's.
    Videos,
}

impl Operation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::Completions => "completions",
            Operation::Embeddings => "embeddings",
            Operation::Images => "images",
            Operation::Speech => "speech",
            Operation::Transcriptions => "transcriptions",
            Operation::Translations => "translations",
            Operation::ImageEdits => "image_edits",
            Operation::Videos => "videos",
        }
    }

    /// Every operation, chat first.
    pub const ALL: [Operation; 9] = [
        Operation::Chat,
        Operation::Completions,
        Operation::Embeddings,
        Operation::Images,
        Operation::Speech,
        Operation::Transcriptions,
        Operation::Translations,
        Operation::ImageEdits,
        Operation::Videos,
    ];

    /// The OpenAI-style path that serves this operation (what `/v1/models` lists).
    pub const fn openai_path(self) -> &'static str {
        match self {
            Operation::Chat => "/v1/chat/completions",
            Operation::Completions => "/v1/completions",
            Operation::Embeddings => "/v1/embeddings",
            Operation::Images => "/v1/images/generations",
            Operation::Speech => "/v1/audio/speech",
            Operation::Transcriptions => "/v1/audio/transcriptions",
            Operation::Translations => "/v1/audio/translations",
            Operation::ImageEdits => "/v1/images/edits",
            Operation::Videos => "/v1/videos",
        }
    }

    /// Whether the client's body goes upstream as bytes, not through the hub: audio in or
    /// out, and multipart uploads that are streamed rather than parsed whole.
    pub const fn raw_body(self) -> bool {
        matches!(
            self,
            Operation::Speech
                | Operation::Transcriptions
                | Operation::Translations
                | Operation::ImageEdits
        )
    }

    /// Whether a provider without this operation can still serve it as a chat request (the
    /// client's format then has chat translators of its own).
    pub const fn via_chat(self) -> bool {
        matches!(self, Operation::Chat | Operation::Completions)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
