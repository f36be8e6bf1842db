//! The install plan as plain data: the actions that put a bundle live (`actions`),
//! the go-live steps they call for (`steps`), their shell form with every value
//! quoted (`shell`) and INSTALL.md's commands made from them (`install_doc`).
//! Pure; `render` prints it, `apply` executes it.

pub mod actions;
pub mod install_doc;
pub mod shell;
pub mod steps;
