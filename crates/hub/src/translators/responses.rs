//! Translators between the hub and the `responses` format.
