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
pub mod limits;
pub mod quotes;
pub mod rates;
pub mod service;
