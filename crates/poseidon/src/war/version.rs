//! Tomcat parallel deployment names: `<context>##<version>`, versions zero-padded so that
//! Tomcat's string order is the release order (`##11` sorts before `##2` otherwise).

/// Digits of a version: a million releases before the order breaks.
const WIDTH: usize = 6;

pub fn format(number: u64) -> String {
    format!("{number:0WIDTH$}")
}

/// The release number of a version string (`"000012"` → 12); other versions (deployed
/// by hand) are not ours and are ignored.
pub fn parse(version: &str) -> Option<u64> {
    (version.len() == WIDTH && version.bytes().all(|b| b.is_ascii_digit()))
        .then(|| version.parse().ok())
        .flatten()
}

/// The base name Tomcat maps to `/<context>`: `ROOT` for the root, `a#b` for `/a/b`.
pub fn stem(context: &str) -> String {
    if context.is_empty() {
        "ROOT".into()
    } else {
        context.replace('/', "#")
    }
}

/// The WAR file name Tomcat maps to `/<context>` version `version` (no version: `""`).
pub fn war_name(context: &str, version: &str) -> String {
    if version.is_empty() {
        format!("{}.war", stem(context))
    } else {
        format!("{}##{version}.war", stem(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_versions_sort_as_numbers() {
        let mut names = vec![format(11), format(2), format(100)];
        names.sort();
        assert_eq!(names, ["000002", "000011", "000100"]);
        assert_eq!(parse("000011"), Some(11));
        assert_eq!(parse("11"), None);
        assert_eq!(war_name("itrust", "000003"), "itrust##000003.war");
        assert_eq!(war_name("", "000001"), "ROOT##000001.war");
        assert_eq!(war_name("a/b", "000001"), "a#b##000001.war");
        assert_eq!(war_name("c/app", ""), "c#app.war");
    }
}
