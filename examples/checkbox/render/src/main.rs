//! `checkbox-render`: the render service.
fn main() {}
