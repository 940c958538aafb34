//! Which Sentry issues a commit message says it fixes: a keyword (`fixes`, `fixed`, `fix`,
//! `closes`, `closed`, `close`, `resolves`, `resolved`, `resolve`; any case, an optional colon)
//! followed by one or more Sentry short ids (`BACKEND-1A`, `ACME-API-1F, ACME-API-2`) — the
//! words Sentry reads when the commit reaches a release.

const KEYWORDS: [&str; 9] = [
    "fixes", "fixed", "fix", "closes", "closed", "close", "resolves", "resolved", "resolve",
];

/// A short id (`PROJECT-SUFFIX`, the project part may hold hyphens), upper-cased; `None` if the
/// token is not one.
fn short_id(token: &str) -> Option<String> {
    let (project, suffix) = token.rsplit_once('-')?;
    let starts_with_letter = project.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    let project_ok = project
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let suffix_ok = !suffix.is_empty() && suffix.chars().all(|c| c.is_ascii_alphanumeric());
    (starts_with_letter && project_ok && suffix_ok && !project.ends_with('-')).then(|| token.to_ascii_uppercase())
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// The short ids `message` says it fixes, each once, in order of appearance.
pub fn fixed_short_ids(message: &str) -> Vec<String> {
    let words: Vec<&str> = message
        .split(|c: char| !is_word_char(c) && c != ':' && c != ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut found: Vec<String> = Vec::new();
    let mut index = 0;
    while index < words.len() {
        let word = words[index].trim_end_matches(':');
        index += 1;
        if !KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k)) || words[index - 1].contains(',') {
            continue;
        }
        // The ids after the keyword: `A-1`, `A-1, A-2`, `A-1,A-2`.
        'list: while index < words.len() {
            let tokens: Vec<&str> = words[index].split(',').filter(|t| !t.is_empty()).collect();
            let mut any = false;
            for token in &tokens {
                match short_id(token.trim_end_matches(':')) {
                    Some(id) => {
                        any = true;
                        if !found.contains(&id) {
                            found.push(id);
                        }
                    }
                    None => break 'list,
                }
            }
            if !any {
                break;
            }
            let continues = words[index].ends_with(',');
            index += 1;
            if !continues {
                break;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_in_any_case_with_or_without_a_colon() {
        for keyword in KEYWORDS {
            for written in [keyword.to_string(), keyword.to_ascii_uppercase(), format!("{keyword}:")] {
                let message = format!("Guard the divisor ({written} backend-1a)");
                assert_eq!(fixed_short_ids(&message), vec!["BACKEND-1A"], "{message}");
            }
        }
    }

    #[test]
    fn project_slugs_with_hyphens_and_lists() {
        assert_eq!(
            fixed_short_ids("Fix division by zero (Fixes ACME-API-1F)"),
            vec!["ACME-API-1F"]
        );
        assert_eq!(
            fixed_short_ids("Fixes BACKEND-1, BACKEND-2A\n\nalso closes WEB-7"),
            vec!["BACKEND-1", "BACKEND-2A", "WEB-7"]
        );
        assert_eq!(
            fixed_short_ids("fixes BACKEND-1,BACKEND-2"),
            vec!["BACKEND-1", "BACKEND-2"]
        );
    }

    #[test]
    fn words_that_only_look_alike_say_nothing() {
        for message in [
            "Add prefix handling for BACKEND-1",
            "Fixture update BACKEND-1",
            "Fixes the build",
            "fixes 12-3",
            "suffixes BACKEND-1",
            "Fixes BACKEND-",
        ] {
            assert!(fixed_short_ids(message).is_empty(), "{message}");
        }
    }

    #[test]
    fn an_id_named_twice_is_returned_once() {
        assert_eq!(fixed_short_ids("Fixes API-1; also fixes api-1"), vec!["API-1"]);
    }
}
