//! The name of a built image and the `docker build` command line. The
//! name is `<registry>/servos/<app id>:<commit>` when the application
//! pushes to a registry, else `servos.invalid/<app id>:<commit>`: a host
//! that never resolves (RFC 2606), so a server missing the image fails to
//! pull it instead of asking a public registry for it.

use std::collections::BTreeMap;

use servos_common::secret::SecretText;

use crate::deploy::docker::APP_LABEL;
use crate::ssh::shell::quote;

/// The label naming the commit an image was built from.
pub const COMMIT_LABEL: &str = "servos.commit";

/// The registry host of images that are never pushed.
pub const UNPUSHED_HOST: &str = "servos.invalid";

/// The image a build of `commit` of application `app_id` makes.
pub fn name(registry_host: Option<&str>, app_id: &str, commit: &str) -> String {
    format!(
        "{}/servos/{app_id}:{commit}",
        registry_host.unwrap_or(UNPUSHED_HOST)
    )
}

/// What `docker build` is given.
#[derive(Debug)]
pub struct BuildSpec<'a> {
    /// The checked-out work tree.
    pub src: &'a str,
    /// The Dockerfile, relative to the work tree.
    pub dockerfile: &'a str,
    /// The context, relative to the work tree.
    pub context: &'a str,
    /// The image to tag.
    pub image: &'a str,
    /// The application, for the label.
    pub app_id: &'a str,
    /// The commit, for the label.
    pub commit: &'a str,
    /// Build arguments in clear.
    pub clear_args: &'a BTreeMap<String, String>,
    /// Secret build arguments: only their names are on the command line.
    pub secret_args: &'a BTreeMap<String, SecretText>,
}

/// The script that builds: secret arguments are read from its input (one
/// line each, base64, in name order; see [`stdin_of`]) into its
/// environment, where `--build-arg NAME` takes them from.
pub fn script(spec: &BuildSpec<'_>) -> String {
    let mut script = String::from("set -eu\n");
    for name in spec.secret_args.keys() {
        script.push_str(&format!(
            "IFS= read -r servos_arg_; {name}=\"$(printf '%s' \"$servos_arg_\" | base64 -d)\"; export {name}\n"
        ));
    }
    script.push_str("unset servos_arg_\n");
    let mut command = format!(
        "docker build --rm --force-rm -f {} -t {} --label {} --label {}",
        quote(&format!("{}/{}", spec.src, spec.dockerfile)),
        quote(spec.image),
        quote(&format!("{APP_LABEL}={}", spec.app_id)),
        quote(&format!("{COMMIT_LABEL}={}", spec.commit)),
    );
    for (name, value) in spec.clear_args {
        command.push_str(&format!(
            " --build-arg {}",
            quote(&format!("{name}={value}"))
        ));
    }
    for name in spec.secret_args.keys() {
        command.push_str(&format!(" --build-arg {name}"));
    }
    command.push_str(&format!(
        " {}",
        quote(&format!("{}/{}", spec.src, spec.context))
    ));
    script.push_str(&command);
    script
}

/// The input of [`script`]: each secret argument's value in base64, a
/// line each, in name order.
pub fn stdin_of(secret_args: &BTreeMap<String, SecretText>) -> SecretText {
    use base64::Engine as _;
    let mut input = String::new();
    for value in secret_args.values() {
        input.push_str(&base64::engine::general_purpose::STANDARD.encode(value.expose()));
        input.push('\n');
    }
    SecretText::new(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_where_the_image_goes() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            name(Some("registry.example:5000"), "a-b", sha),
            format!("registry.example:5000/servos/a-b:{sha}")
        );
        assert_eq!(
            name(None, "a-b", sha),
            format!("servos.invalid/servos/a-b:{sha}")
        );
    }

    #[test]
    fn secret_arguments_stay_off_the_command_line() {
        let clear = BTreeMap::from([("MODE".to_owned(), "fast one".to_owned())]);
        let secret =
            BTreeMap::from([("NPM_TOKEN".to_owned(), SecretText::new("s3cr3t\nx".into()))]);
        let spec = BuildSpec {
            src: "/b/src",
            dockerfile: "Dockerfile",
            context: ".",
            image: "servos.invalid/servos/a:1",
            app_id: "a",
            commit: "1",
            clear_args: &clear,
            secret_args: &secret,
        };
        let text = script(&spec);
        assert!(text.contains("--build-arg 'MODE=fast one'"));
        assert!(text.contains("--build-arg NPM_TOKEN "));
        assert!(!text.contains("s3cr3t"));
        assert_eq!(stdin_of(&secret).expose(), "czNjcjN0Cng=\n");
    }
}
