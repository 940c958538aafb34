//! The README's admin commands, read from its `sh` code blocks and run as written: the blocks that
//! use `$BRIDGE` are split into commands as a shell splits them (quotes, `\` line ends, `;`, `#`
//! comments, `$VAR` outside single quotes, `NAME=value` assignments) and each `curl` is sent with
//! reqwest — so a README command that stops working fails the suite, with no shell or curl needed.

use std::collections::HashMap;

/// One command: its words after quote removal and expansion.
pub type Command = Vec<String>;

/// The `sh` code blocks of `markdown` that mention `$BRIDGE`.
pub fn bridge_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                if block.contains("$BRIDGE") {
                    blocks.push(block.clone());
                }
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

fn expand(name: &str, vars: &HashMap<String, String>) -> String {
    vars.get(name).cloned().unwrap_or_default()
}

/// Splits `script` into commands, expanding `$VAR` from `vars` and applying assignments to it.
pub fn commands(script: &str, vars: &mut HashMap<String, String>) -> Vec<Command> {
    let chars: Vec<char> = script.chars().collect();
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    let mut i = 0;
    let finish_word = |word: &mut Option<String>, words: &mut Vec<String>| {
        if let Some(w) = word.take() {
            words.push(w);
        }
    };
    let mut finish_command = |words: &mut Vec<String>, vars: &mut HashMap<String, String>| {
        let all_assignments = !words.is_empty()
            && words.iter().all(|w| {
                w.split_once('=')
                    .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            });
        if all_assignments {
            for w in words.drain(..) {
                let (name, value) = w.split_once('=').unwrap_or_default();
                vars.insert(name.to_string(), value.to_string());
            }
        } else if !words.is_empty() {
            commands.push(std::mem::take(words));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1) == Some(&'\n') => i += 1,
            '\n' | ';' => {
                finish_word(&mut word, &mut words);
                finish_command(&mut words, vars);
            }
            ' ' | '\t' => finish_word(&mut word, &mut words),
            '#' if word.is_none() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    w.push(chars[i]);
                    i += 1;
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '$' {
                        let start = i + 1;
                        let mut end = start;
                        while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                            end += 1;
                        }
                        w.push_str(&expand(&chars[start..end].iter().collect::<String>(), vars));
                        i = end;
                        continue;
                    }
                    w.push(chars[i]);
                    i += 1;
                }
            }
            '$' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let value = expand(&chars[start..end].iter().collect::<String>(), vars);
                word.get_or_insert_with(String::new).push_str(&value);
                i = end;
                continue;
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
        i += 1;
    }
    finish_word(&mut word, &mut words);
    finish_command(&mut words, vars);
    commands
}

/// A `curl` command as reqwest sends it: `-X`, `-H`, `-d`, the URL (`http://` added when missing).
pub fn curl(client: &reqwest::Client, command: &Command) -> Option<reqwest::RequestBuilder> {
    if command.first().map(String::as_str) != Some("curl") {
        return None;
    }
    let (mut method, mut url, mut headers, mut body) = (None, None, Vec::new(), None);
    let mut words = command.iter().skip(1);
    while let Some(word) = words.next() {
        match word.as_str() {
            "-X" => method = words.next().cloned(),
            "-H" => headers.extend(words.next().cloned()),
            "-d" => body = words.next().cloned(),
            flag if flag.starts_with('-') => {}
            other => url = Some(other.to_string()),
        }
    }
    let url = url?;
    let url = if url.starts_with("http") {
        url
    } else {
        format!("http://{url}")
    };
    let method = method.unwrap_or_else(|| if body.is_some() { "POST".into() } else { "GET".into() });
    let mut request = client.request(method.parse().ok()?, url);
    for header in headers {
        let (name, value) = header.split_once(':')?;
        request = request.header(name.trim(), value.trim());
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    Some(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_as_a_shell_splits_them() {
        let mut vars = HashMap::from([("BRIDGE".to_string(), "http://b".to_string())]);
        let script = "R=$BRIDGE/x; H=\"Authorization: Bearer t\"   # a comment\ncurl -s -X POST $R -H \"$H\" -d '{\n \"a\": 1\n}'\ncurl -s \\\n  \"$R?y=1\"\n";
        let commands = commands(script, &mut vars);
        assert_eq!(vars["R"], "http://b/x");
        assert_eq!(
            commands,
            vec![
                vec![
                    "curl",
                    "-s",
                    "-X",
                    "POST",
                    "http://b/x",
                    "-H",
                    "Authorization: Bearer t",
                    "-d",
                    "{\n \"a\": 1\n}"
                ],
                vec!["curl", "-s", "http://b/x?y=1"],
            ]
            .into_iter()
            .map(|c| c.into_iter().map(String::from).collect::<Vec<_>>())
            .collect::<Vec<_>>()
        );
    }
}
