//! Parcels, shipments and carriers.

pub mod carrier;
pub mod consolidate;
pub mod handover;
pub mod limits;
pub mod rates;
pub mod service;
