# What the home-manager module (./home-manager.nix) and the NixOS module (./nixos.nix) share: the
# options of `services.forge-coordinator`, and the user unit they make of them (./unit.nix).
{
  self,
  lib,
  pkgs,
}:
let
  inherit (lib) mkOption types;
  settings = import ./settings.nix { inherit lib; };
  system = pkgs.stdenv.hostPlatform.system;
in
rec {
  inherit settings;

  options = {
    enable = lib.mkEnableOption "forge-coordinator, the Telegram bot that hands each message to an AI agent";

    npmRegistry = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "https://npm.example.org/";
      description = ''
        The npm registry the default `package` fetches its npm tarballs from, once, at build time
        (each checked against deno.lock's sha512, so a mirror can't change them): a root URL as
        `npm config get registry` prints it, for a mirror of your own. `null`: npm's public
        registry, which nixpkgs' own npm asks by default (this repository names no registry
        itself), unless NPM_CONFIG_REGISTRY says otherwise under `--impure`.
      '';
    };

    watchdogSec = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      example = 90;
      description = ''
        systemd's `WatchdogSec=`, in seconds: how long after the bot's last ping systemd takes its
        poll loop for stuck and restarts it. It must be above the longest turn of the loop (the
        poll timeout plus 10 s). `null`: `pollTimeoutSeconds` + 30 (60 with the default poll
        timeout).
      '';
    };

    package = mkOption {
      type = types.package;
      description = "The forge-coordinator package; its `bin/forge-coordinator` is the unit's ExecStart.";
    };

    tokenFile = mkOption {
      type = types.str;
      example = "%t/agenix/telegram-bot-token";
      description = ''
        The file holding the bot token, read by systemd at each start (`LoadCredential=`) and
        handed to the bot as a credential. A string, never copied to the world-readable Nix
        store (a store path is refused). An absolute path; or one starting with a systemd
        specifier (`%t` the runtime folder, `%h` home, `%E` ~/.config...); or with
        `''${XDG_RUNTIME_DIR}` (`$XDG_RUNTIME_DIR`, `''${HOME}`...), as agenix's home-manager
        module writes its paths, which becomes the matching specifier (systemd expands no
        environment variables in LoadCredential=).
      '';
    };

    path = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.git pkgs.ripgrep ]";
      description = ''
        Packages whose `bin/` the brain finds first on its PATH, before the user's profile,
        `~/.local/bin` and the system's.
      '';
    };

    environment = mkOption {
      type = types.attrsOf (types.oneOf [ types.str types.int types.float ]);
      default = { };
      example = {
        ANTHROPIC_MODEL = "sonnet";
      };
      description = ''
        More environment variables for the bot and its brains (they override the settings).
        Values are literal: `%` is escaped, nothing is expanded. No secrets here: the unit file
        is in the Nix store; use `environmentFile`.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/home/me/.config/forge-coordinator/brain.env";
      description = ''
        A file of NAME=value lines read by systemd at each start (`EnvironmentFile=`), for
        secrets the brain needs, such as `ANTHROPIC_API_KEY` or `CLAUDE_CODE_OAUTH_TOKEN`.
      '';
    };
  }
  // builtins.mapAttrs (
    _: s:
    mkOption (
      {
        inherit (s) type;
        description = "${s.description} (`${s.variable}`)";
      }
      // lib.optionalAttrs (s ? default) { inherit (s) default; }
      // lib.optionalAttrs (s ? example) { inherit (s) example; }
    )
  ) settings;

  # The package when `package` is not set: the flake's, fetching from `npmRegistry` if given.
  defaultPackage =
    cfg:
    let
      package = self.packages.${system}.default;
    in
    if cfg.npmRegistry == null then package else package.override { inherit (cfg) npmRegistry; };
  defaultPackageText = lib.literalExpression "forge-coordinator.packages.\${pkgs.stdenv.hostPlatform.system}.default";

  # The settings as variables: name -> value, unset ones left out.
  environmentOf =
    cfg:
    builtins.listToAttrs (
      builtins.filter (e: e.value != null) (
        map (
          name:
          let
            s = settings.${name};
          in
          {
            name = s.variable;
            value = (s.render or (v: v)) cfg.${name};
          }
        ) (builtins.attrNames settings)
      )
    )
    // cfg.environment;

  # The unit (./unit.nix), for a user whose profile's bin/ and home are given.
  unit =
    cfg:
    { profileBin, home }:
    import ./unit.nix {
      execStart = lib.getExe cfg.package;
      # Never an empty entry: that would put the working directory on the PATH.
      path = lib.concatStringsSep ":" (
        lib.optional (cfg.path != [ ]) (lib.makeBinPath cfg.path)
        ++ [
          profileBin
          "${home}/.local/bin"
          "/run/current-system/sw/bin"
          "/usr/local/bin"
          "/usr/bin"
          "/bin"
        ]
      );
      inherit (cfg) tokenFile environmentFile;
      environment = environmentOf cfg;
      watchdogSec = watchdogOf cfg;
    };

  # WatchdogSec= in seconds: the option, or derived from the poll timeout; checked against it.
  watchdogOf =
    cfg:
    let
      poll = cfg.pollTimeoutSeconds;
      watchdog = if cfg.watchdogSec == null then poll + 30 else cfg.watchdogSec;
    in
    assert
      watchdog > poll + 10
      || throw "services.forge-coordinator.watchdogSec (${toString watchdog}) must be above pollTimeoutSeconds + 10 (${toString (poll + 10)}): a long poll would trip it";
    watchdog;
}
