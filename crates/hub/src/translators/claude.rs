//! Translators between the hub and the `claude` format.
