//! The plugin templates and WIT files built into the binary, and how a
//! template becomes a plugin: placeholders filled, and the sections of the
//! exports the chosen world leaves out removed.

/// A plugin's source language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust, built with cargo and wit-bindgen.
    Rust,
    /// Python, built with componentize-py.
    Python,
    /// JavaScript, built with componentize-js.
    Js,
    /// C, built with wit-bindgen, clang-19 against wasi-libc, and wasm-tools.
    C,
}

/// Which interfaces the plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum World {
    /// Only `notion:oauth/consumer`.
    Consumer,
    /// Only `notion:oauth/view`.
    View,
    /// Both.
    Both,
}

impl World {
    /// The WIT world's name in `notion:oauth`.
    pub fn wit_name(self) -> &'static str {
        match self {
            World::Consumer => "consumer-plugin",
            World::View => "view-plugin",
            World::Both => "plugin",
        }
    }
}

/// This gateway's WIT, as plugins build against it.
pub(super) const WIT: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../wit/types.wit")),
    ("consumer.wit", include_str!("../../wit/consumer.wit")),
    ("view.wit", include_str!("../../wit/view.wit")),
    ("worlds.wit", include_str!("../../wit/worlds.wit")),
    (
        "deps/clocks/clocks.wit",
        include_str!("../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "deps/config/store.wit",
        include_str!("../../wit/deps/config/store.wit"),
    ),
    (
        "deps/config/world.wit",
        include_str!("../../wit/deps/config/world.wit"),
    ),
    (
        "deps/http/http.wit",
        include_str!("../../wit/deps/http/http.wit"),
    ),
    ("deps/io/io.wit", include_str!("../../wit/deps/io/io.wit")),
    (
        "deps/keyvalue/store.wit",
        include_str!("../../wit/deps/keyvalue/store.wit"),
    ),
    (
        "deps/logging/logging.wit",
        include_str!("../../wit/deps/logging/logging.wit"),
    ),
];

const RUST: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../../plugins/templates/rust/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../plugins/templates/rust/src/lib.rs"),
    ),
    (
        "Makefile",
        include_str!("../../plugins/templates/rust/Makefile"),
    ),
];

const PYTHON: &[(&str, &str)] = &[
    (
        "app.py",
        include_str!("../../plugins/templates/python/app.py"),
    ),
    (
        "Makefile",
        include_str!("../../plugins/templates/python/Makefile"),
    ),
];

const JS: &[(&str, &str)] = &[
    ("app.js", include_str!("../../plugins/templates/js/app.js")),
    (
        "Makefile",
        include_str!("../../plugins/templates/js/Makefile"),
    ),
];

const C: &[(&str, &str)] = &[
    ("app.c", include_str!("../../plugins/templates/c/app.c")),
    (
        "Makefile",
        include_str!("../../plugins/templates/c/Makefile"),
    ),
    (
        ".gitignore",
        include_str!("../../plugins/templates/c/.gitignore"),
    ),
];

const PYTHON_TOOLCHAIN: &[(&str, &str)] = &[
    (
        "python/plugin.mk",
        include_str!("../../plugins/toolchains/python/plugin.mk"),
    ),
    (
        "python/requirements.txt",
        include_str!("../../plugins/toolchains/python/requirements.txt"),
    ),
];

const JS_TOOLCHAIN: &[(&str, &str)] = &[
    (
        "js/plugin.mk",
        include_str!("../../plugins/toolchains/js/plugin.mk"),
    ),
    (
        "js/build.mjs",
        include_str!("../../plugins/toolchains/js/build.mjs"),
    ),
    (
        "js/package.json",
        include_str!("../../plugins/toolchains/js/package.json"),
    ),
    (
        "js/package-lock.json",
        include_str!("../../plugins/toolchains/js/package-lock.json"),
    ),
];

const C_TOOLCHAIN: &[(&str, &str)] = &[
    (
        "c/plugin.mk",
        include_str!("../../plugins/toolchains/c/plugin.mk"),
    ),
    (
        "c/requirements.txt",
        include_str!("../../plugins/toolchains/c/requirements.txt"),
    ),
];

/// The manifest every template ships (`plugin.toml`, the same in each language).
pub(super) const MANIFEST: (&str, &str) = (
    "plugin.toml",
    include_str!("../../plugins/templates/plugin.toml"),
);

/// The rules every language's Makefile includes (`make try`).
pub(super) const SHARED_TOOLCHAIN: &[(&str, &str)] =
    &[("try.mk", include_str!("../../plugins/toolchains/try.mk"))];

/// The template files of `language`, by path inside the plugin's folder.
pub(super) fn files(language: Language) -> &'static [(&'static str, &'static str)] {
    match language {
        Language::Rust => RUST,
        Language::Python => PYTHON,
        Language::Js => JS,
        Language::C => C,
    }
}

/// The shared build rules `language` needs, by path inside `toolchains/`.
pub(super) fn toolchain(language: Language) -> &'static [(&'static str, &'static str)] {
    match language {
        Language::Rust => &[],
        Language::Python => PYTHON_TOOLCHAIN,
        Language::Js => JS_TOOLCHAIN,
        Language::C => C_TOOLCHAIN,
    }
}

/// Fills the placeholders and keeps only the sections `world` exports.
pub(super) fn render(template: &str, name: &str, _language: Language, world: World) -> String {
    let keep = |section: &str| match section {
        "consumer" => world != World::View,
        "view" => world != World::Consumer,
        _ => true,
    };
    let mut out = String::with_capacity(template.len());
    let mut skipping: Option<String> = None;
    for line in template.lines() {
        let marker = line
            .trim()
            .trim_start_matches("//")
            .trim_start_matches('#')
            .trim();
        if let Some(section) = marker.strip_prefix("</").and_then(|m| m.strip_suffix('>')) {
            if skipping.as_deref() == Some(section) {
                skipping = None;
            }
            continue;
        }
        if let Some(section) = marker.strip_prefix('<').and_then(|m| m.strip_suffix('>'))
            && matches!(section, "consumer" | "view")
        {
            if !keep(section) {
                skipping = Some(section.to_string());
            }
            continue;
        }
        if skipping.is_none() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.replace("{{name}}", name)
        .replace("{{world}}", world.wit_name())
        .replace("{{rust_world}}", world.wit_name())
        // The C bindings name their header and shared types after the world.
        .replace("{{c_world}}", &world.wit_name().replace('-', "_"))
}
