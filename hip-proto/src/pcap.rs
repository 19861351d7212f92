//! Classic pcap reading and writing (to be written)
