//! A Sentry release version that names a commit: the version itself, or the part after its last
//! `@` (`backend@1a2b3c4d`, `my-app@2.0+1a2b3c4`: no), when that is a 7–40 digit hex commit id —
//! what `sentry-cli releases propose-version` makes from the git sha.

/// The commit id (lower-cased) a release `version` names, if it names one.
pub fn commit_of_version(version: &str) -> Option<String> {
    let candidate = version.rsplit_once('@').map_or(version, |(_, after)| after);
    let hex = (7..=40).contains(&candidate.len()) && candidate.chars().all(|c| c.is_ascii_hexdigit());
    hex.then(|| candidate.to_ascii_lowercase())
}

/// Whether `sha` (a full commit id) is the commit `short` (7–40 hex, lower case) names.
pub fn names_commit(short: &str, sha: &str) -> bool {
    sha.to_ascii_lowercase().starts_with(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sha_or_a_sha_after_the_last_at_names_a_commit() {
        let sha = "33b55f7cb7e7e245323987634f960cf4a6e6bc74";
        assert_eq!(commit_of_version(sha).as_deref(), Some(sha));
        assert_eq!(commit_of_version("backend@1A2B3C4D").as_deref(), Some("1a2b3c4d"));
        assert_eq!(commit_of_version("org@app@33b55f7").as_deref(), Some("33b55f7"));
        for not_a_commit in [
            "1.0.0",
            "backend@1.2.3",
            "abc12",
            "backend@",
            "g33b55f7",
            &format!("{sha}0"),
        ] {
            assert_eq!(commit_of_version(not_a_commit), None, "{not_a_commit}");
        }
    }

    #[test]
    fn a_short_id_names_the_commits_it_starts() {
        assert!(names_commit("33b55f7", "33B55F7cb7e7e245323987634f960cf4a6e6bc74"));
        assert!(!names_commit("33b55f8", "33b55f7cb7e7e245323987634f960cf4a6e6bc74"));
    }
}
