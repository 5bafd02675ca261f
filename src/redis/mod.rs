//! Everything about talking to Redis: finding a server, and running commands as redis-cli would.
//! Only this layer opens connections, and it hands out only fenced ones (`fence`).

pub mod aof_restore;
pub mod binaries;
pub mod bounded;
pub mod classes;
pub mod cluster;
pub mod command;
pub mod command_info;
pub mod command_table;
pub(crate) mod conn;
pub mod connect;
pub mod deadline;
pub mod dial;
pub mod docs;
pub mod fence;
pub mod managed;
pub mod managed_cluster;
pub mod redact;
pub mod render;
pub mod tape;
pub mod throwaway;
pub mod tokenize;
pub mod transport;
