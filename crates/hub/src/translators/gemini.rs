//! Translators between the hub and the `gemini` format.
