//! Prints the parse of a Dockerfile read from stdin (debugging aid).
use std::io::Read;

fn main() {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).unwrap_or_default();
    match berth_dockerfile::parse(&s) {
        Ok(df) => println!("{df:#?}"),
        Err(e) => println!("error: {e}"),
    }
}
