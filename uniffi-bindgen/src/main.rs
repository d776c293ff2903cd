//! `uniffi-bindgen`, built from the same pinned uniffi as the bindings so the
//! generated Kotlin/Swift/Python always match the library's metadata.

fn main() {
    uniffi::uniffi_bindgen_main()
}
