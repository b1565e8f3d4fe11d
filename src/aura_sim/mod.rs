//! A stateful simulator of AURA's API (being written).
