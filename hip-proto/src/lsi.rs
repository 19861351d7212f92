//! LSI allocation (to be written)
