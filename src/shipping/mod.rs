//! Parcels, shipments and carriers.

pub mod booker;
pub mod carrier;
pub mod consolidate;
pub mod limits;
pub mod rates;
pub mod service;
