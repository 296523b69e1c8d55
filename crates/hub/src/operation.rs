//! What a request asks a model to do. Chat is what every format was first written for; the
//! others (embeddings, image generation) have their own bodies, and their translators are
//! registered under their operation, with OpenAI's shape of that operation as the hub.

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
}

impl Operation {
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Chat => "chat",
            Operation::Completions => "completions",
            Operation::Embeddings => "embeddings",
            Operation::Images => "images",
        }
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
