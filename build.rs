// Embedded migrations must be re-embedded when a migration file changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
