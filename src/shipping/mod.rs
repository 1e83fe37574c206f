//! Parcels, shipments and carriers.

pub mod booker;
pub mod cancel;
pub mod carrier;
pub mod choice;
pub mod cod;
pub mod consolidate;
pub mod handover;
pub mod label;
pub mod labeling;
pub mod quotes;
pub mod service;

/// Carrier price tables and cost rules are plain data and rules: they live in `domain`.
pub use crate::domain::rates;
