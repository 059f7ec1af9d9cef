//! The entries of an artifact checked (nothing may land outside the release directory)
//! and written into a hidden directory, which the store then renames into place: a
//! killed unpack leaves a hidden directory, never a half release under its id.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::ReleaseError;
use super::artifact::{Artifact, TREE};

/// One checked entry of the release tree, its path relative to the release directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    Dir(PathBuf),
    File { path: PathBuf, executable: bool },
    Symlink { path: PathBuf, target: PathBuf },
}

/// Checks entries in artifact order. Besides each path on its own, it refuses an entry
/// below a symbolic link of the artifact (written through the link, it could land
/// anywhere the link leads) and a path given twice.
#[derive(Default)]
pub(crate) struct Checker {
    links: HashSet<PathBuf>,
    seen: HashSet<PathBuf>,
}

impl Checker {
    pub(crate) fn check(
        &mut self,
        name: &Path,
        kind: tar::EntryType,
        mode: u32,
        link: Option<&Path>,
    ) -> Result<Option<Item>, String> {
        let Some(path) = tree_path(name)? else {
            return if kind.is_dir() {
                Ok(None)
            } else {
                Err(format!("{TREE} is not a directory"))
            };
        };
        if let Some(through) = path.ancestors().skip(1).find(|a| self.links.contains(*a)) {
            return Err(format!(
                "it lies below the symbolic link {}",
                through.display()
            ));
        }
        if !self.seen.insert(path.clone()) {
            return Err("the artifact holds this path twice".into());
        }
        match kind {
            tar::EntryType::Directory => Ok(Some(Item::Dir(path))),
            tar::EntryType::Regular | tar::EntryType::Continuous => Ok(Some(Item::File {
                path,
                executable: mode & 0o111 != 0,
            })),
            tar::EntryType::Symlink => {
                let target = link.ok_or("a symbolic link without a target")?;
                if !link_stays_inside(&path, target) {
                    return Err(format!(
                        "a symbolic link to {} (outside the release)",
                        target.display()
                    ));
                }
                self.links.insert(path.clone());
                Ok(Some(Item::Symlink {
                    path,
                    target: target.to_owned(),
                }))
            }
            tar::EntryType::Link => Err("a hard link".into()),
            other => Err(format!("a special entry ({other:?})")),
        }
    }
}

/// The path of an artifact entry inside the release (`app/src/a.js` → `src/a.js`; `app`
/// itself → `None`); an error for anything outside `app/`, absolute, or with `..`.
pub(crate) fn tree_path(name: &Path) -> Result<Option<PathBuf>, String> {
    let mut components = name.components();
    match components.next() {
        Some(Component::Normal(first)) if first == TREE => {}
        Some(Component::RootDir | Component::Prefix(_)) => return Err("an absolute path".into()),
        Some(Component::ParentDir) => return Err("a `..` component".into()),
        _ => return Err(format!("outside {TREE}/")),
    }
    let mut path = PathBuf::new();
    for component in components {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err("a `..` component".into()),
            Component::RootDir | Component::Prefix(_) => return Err("an absolute path".into()),
        }
    }
    Ok((!path.as_os_str().is_empty()).then_some(path))
}

/// Whether a symbolic link at `link` (relative to the release) pointing to `target`
/// resolves inside the release, read as the kernel would from the link's directory.
pub(crate) fn link_stays_inside(link: &Path, target: &Path) -> bool {
    let mut depth: Vec<_> = link
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    for component in target.components() {
        match component {
            Component::Normal(_) => depth.push(component),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Writes the checked artifact's tree into `dir` (which exists and is empty).
pub(crate) fn unpack_into(artifact: &Artifact, dir: &Path) -> Result<(), ReleaseError> {
    artifact.each(|item, data| write_item(dir, item, data))
}

fn write_item(dir: &Path, item: &Item, data: &mut dyn Read) -> Result<(), ReleaseError> {
    match item {
        Item::Dir(path) => {
            let full = dir.join(path);
            fs::create_dir_all(&full).map_err(ReleaseError::io("creating", &full))?;
            fs::set_permissions(&full, fs::Permissions::from_mode(0o755))
                .map_err(ReleaseError::io("setting the mode of", &full))
        }
        Item::File { path, executable } => {
            let full = dir.join(path);
            parent(&full)?;
            let mode = if *executable { 0o755 } else { 0o644 };
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&full)
                .map_err(ReleaseError::io("creating", &full))?;
            io::copy(data, &mut file).map_err(ReleaseError::io("writing", &full))?;
            // The umask may have narrowed the mode asked for at creation.
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(ReleaseError::io("setting the mode of", &full))
        }
        Item::Symlink { path, target } => {
            let full = dir.join(path);
            parent(&full)?;
            std::os::unix::fs::symlink(target, &full)
                .map_err(ReleaseError::io("creating the link", &full))
        }
    }
}

fn parent(path: &Path) -> Result<(), ReleaseError> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(ReleaseError::io("creating", parent)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::EntryType::{Directory, Link, Regular, Symlink};

    #[test]
    fn paths_outside_the_tree_are_refused() {
        assert_eq!(tree_path(Path::new("app")), Ok(None));
        assert_eq!(
            tree_path(Path::new("app/./src/a.js")),
            Ok(Some("src/a.js".into()))
        );
        for (name, reason) in [
            ("/etc/passwd", "absolute"),
            ("../x", ".."),
            ("app/../../x", ".."),
            ("other/x", "outside app/"),
            ("manifest.json.bak", "outside app/"),
        ] {
            let err = tree_path(Path::new(name)).unwrap_err();
            assert!(err.contains(reason), "{name}: {err}");
        }
    }

    #[test]
    fn links_must_resolve_inside() {
        let inside = [
            ("a", "b"),
            ("x/.bin/tool", "../tool/cli.js"),
            ("x/up", ".."),
            ("a", "./b/../c"),
        ];
        for (link, target) in inside {
            assert!(
                link_stays_inside(Path::new(link), Path::new(target)),
                "{link} -> {target}"
            );
        }
        let outside = [
            ("a", ".."),
            ("a", "/etc/passwd"),
            ("x/y", "../../z"),
            ("a", "b/../../c"),
        ];
        for (link, target) in outside {
            assert!(
                !link_stays_inside(Path::new(link), Path::new(target)),
                "{link} -> {target}"
            );
        }
    }

    #[test]
    fn the_checker_refuses_writes_through_links_duplicates_and_hard_links() {
        let mut checker = Checker::default();
        assert_eq!(
            checker.check(Path::new("app"), Directory, 0o755, None),
            Ok(None)
        );
        assert!(
            checker
                .check(Path::new("app/d"), Directory, 0o755, None)
                .unwrap()
                .is_some()
        );
        let link = checker
            .check(Path::new("app/l"), Symlink, 0o777, Some(Path::new("d")))
            .unwrap();
        assert_eq!(
            link,
            Some(Item::Symlink {
                path: "l".into(),
                target: "d".into()
            })
        );
        let through = checker
            .check(Path::new("app/l/f"), Regular, 0o644, None)
            .unwrap_err();
        assert!(through.contains("below the symbolic link l"), "{through}");
        let file = checker
            .check(Path::new("app/d/f"), Regular, 0o700, None)
            .unwrap();
        assert_eq!(
            file,
            Some(Item::File {
                path: "d/f".into(),
                executable: true
            })
        );
        assert!(
            checker
                .check(Path::new("app/d/f"), Regular, 0o644, None)
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            checker
                .check(Path::new("app/h"), Link, 0o644, Some(Path::new("d/f")))
                .is_err()
        );
        let out = checker
            .check(
                Path::new("app/o"),
                Symlink,
                0o777,
                Some(Path::new("../../etc")),
            )
            .unwrap_err();
        assert!(out.contains("outside the release"), "{out}");
    }
}
