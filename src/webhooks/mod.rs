//! Gateway webhook intake (being written).
