//! The one client for AURA's API (being written).
