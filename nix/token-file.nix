# Where systemd reads the bot token from: the source of the unit's
# `LoadCredential=telegram-bot-token:<source>`, from the modules' `tokenFile` (a string). Pure
# builtins, so that tests/packaging_test.ts can evaluate it offline.
#
# Accepted:
#   /home/me/.config/forge-coordinator/token    an absolute path
#   %t/agenix/telegram-token                    a path starting with a systemd specifier
#                                               (%t runtime dir, %h home, %E config, %C cache...)
#   ${XDG_RUNTIME_DIR}/agenix/telegram-token    a path starting with an environment reference,
#   $XDG_RUNTIME_DIR/agenix/telegram-token      as agenix's home-manager module writes its paths
# systemd expands specifiers in LoadCredential=, but not environment variables, so a leading
# reference to XDG_RUNTIME_DIR, HOME, XDG_CONFIG_HOME or XDG_CACHE_HOME becomes its specifier
# (%t, %h, %E, %C: the same folders in a user unit), and XDG_STATE_HOME becomes %h/.local/state
# (its usual place): a user unit's %S is ~/.config before systemd 254 (Debian 12 has 252), so %S
# is never used, and refused when written. Any other reference is refused.
#
# Refused: a relative path, %S, and a path in the Nix store (world-readable: a token there is
# public).
tokenFile:
let
  specifiers = {
    XDG_RUNTIME_DIR = "%t";
    HOME = "%h";
    XDG_CONFIG_HOME = "%E";
    XDG_STATE_HOME = "%h/.local/state";
    XDG_CACHE_HOME = "%C";
  };
  braced = builtins.match "[$][{]([A-Za-z_][A-Za-z0-9_]*)[}](.*)" tokenFile;
  bare = builtins.match "[$]([A-Za-z_][A-Za-z0-9_]*)(.*)" tokenFile;
  reference = if braced != null then braced else bare;
  source =
    if reference != null then
      let
        variable = builtins.elemAt reference 0;
      in
      if specifiers ? ${variable} then
        specifiers.${variable} + builtins.elemAt reference 1
      else
        throw "tokenFile: systemd can't expand \$${variable} in LoadCredential=; start it with /, a specifier such as %t or %h, or one of \${XDG_RUNTIME_DIR}, \${HOME}, \${XDG_CONFIG_HOME}, \${XDG_STATE_HOME}, \${XDG_CACHE_HOME}; got \"${tokenFile}\""
    else
      tokenFile;
  first = builtins.substring 0 1 source;
  storeDir = builtins.storeDir or "/nix/store";
  inStore = builtins.substring 0 (builtins.stringLength storeDir + 1) source == "${storeDir}/";
in
assert
  builtins.match ".*[[:space:]].*" tokenFile == null
  || throw "tokenFile: no spaces or newlines, got \"${tokenFile}\"";
assert
  first == "/" || first == "%"
  || throw "tokenFile must be an absolute path, or start with a systemd specifier (%t, %h...) or \${XDG_RUNTIME_DIR}, got \"${tokenFile}\"";
assert
  builtins.substring 0 2 source != "%S"
  || throw "tokenFile: %S is ~/.config in a user unit before systemd 254, ~/.local/state from 254 on; write the folder out (%h/.local/state/...), got \"${tokenFile}\"";
assert
  !inStore
  || throw "tokenFile must not be in the Nix store (anyone on the machine can read it there), got \"${tokenFile}\": give a path as a string, not a Nix path";
source
