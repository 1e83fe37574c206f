//! Parcels, shipments and carriers.

pub mod carrier;
pub mod consolidate;
pub mod label;
pub mod labeling;
pub mod limits;
pub mod rates;
pub mod service;
