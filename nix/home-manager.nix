# home-manager module: `services.forge-coordinator` runs the bot as a systemd user unit, the same
# unit as systemd/forge-coordinator.service (see ./unit.nix) with the Nix package's binary.
{ self }:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.forge-coordinator;
  inherit (lib) mkOption types;

  command = types.either types.str (types.listOf types.str);
  # A command as the bot reads it: a list becomes a JSON array, which keeps spaces inside words.
  renderCommand = c: if builtins.isList c then builtins.toJSON c else c;
  optional = name: value: lib.optionalAttrs (value != null) { ${name} = value; };

  settings =
    {
      COORD_AUTHORIZED_USER_IDS = lib.concatMapStringsSep "," toString cfg.authorizedUserIds;
      COORD_API_ROOT = cfg.apiRoot;
      COORD_BRAIN_TIMEOUT_S = cfg.brainTimeoutSeconds;
      COORD_BRAIN_MAX_ITERS = cfg.brainMaxIters;
      COORD_MAX_CONCURRENT_BRAINS = cfg.maxConcurrentBrains;
      COORD_POLL_TIMEOUT_S = cfg.pollTimeoutSeconds;
    }
    // optional "COORD_BRAIN_CMD" (lib.mapNullable renderCommand cfg.brainCommand)
    // optional "COORD_PERSONA_FILE" cfg.personaFile
    // optional "COORD_TRANSCRIBE_CMD" (lib.mapNullable renderCommand cfg.transcribeCommand)
    // optional "COORD_LOCK_DIR" cfg.lockDir
    // optional "COORD_STATE_DIR" cfg.stateDir
    // cfg.environment;
in
{
  options.services.forge-coordinator = {
    enable = lib.mkEnableOption "forge-coordinator, the Telegram bot that hands each message to an AI agent";

    package = mkOption {
      type = types.package;
      default = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "forge-coordinator.packages.\${pkgs.stdenv.hostPlatform.system}.default";
      description = "The forge-coordinator package; its `bin/forge-coordinator` is the unit's ExecStart.";
    };

    tokenFile = mkOption {
      type = types.str;
      example = "/home/me/.config/forge-coordinator/token";
      description = ''
        Absolute path of a file holding the bot token, read by systemd at each start
        (`LoadCredential=`) and handed to the bot as a credential. A string, not a Nix path, so
        the token is never copied into the world-readable Nix store.
      '';
    };

    authorizedUserIds = mkOption {
      type = types.nonEmptyListOf types.ints.positive;
      example = [ 123456789 ];
      description = "Telegram user ids allowed to talk to the brain (`COORD_AUTHORIZED_USER_IDS`).";
    };

    apiRoot = mkOption {
      type = types.str;
      default = "https://api.telegram.org";
      description = "Bot API root: a local Bot API server, or a simulator (`COORD_API_ROOT`).";
    };

    brainCommand = mkOption {
      type = types.nullOr command;
      default = null;
      example = [ "claude" "-p" "--model" "sonnet" ];
      description = ''
        The brain's command line (`COORD_BRAIN_CMD`): a list of words, or one string split at
        whitespace. `null` is the bot's default: `claude -p`, plus
        `--append-system-prompt-file <persona>` when `personaFile` is set.
      '';
    };

    personaFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Persona / system-prompt file handed to the brain; must be readable (`COORD_PERSONA_FILE`).";
    };

    brainTimeoutSeconds = mkOption {
      type = types.either types.ints.positive types.float;
      default = 300;
      description = "One brain attempt's limit in seconds, decimals allowed (`COORD_BRAIN_TIMEOUT_S`).";
    };

    brainMaxIters = mkOption {
      type = types.ints.positive;
      default = 3;
      description = "Brain attempts per message (`COORD_BRAIN_MAX_ITERS`).";
    };

    maxConcurrentBrains = mkOption {
      type = types.ints.positive;
      default = 4;
      description = "Cap on live handler processes (`COORD_MAX_CONCURRENT_BRAINS`).";
    };

    lockDir = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''
        Where the per-chat lock files and turn tickets live; must exist (`COORD_LOCK_DIR`).
        `null` is the unit's runtime directory, `$XDG_RUNTIME_DIR/forge-coordinator`, which
        systemd creates at start and removes at stop.
      '';
    };

    stateDir = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''
        Heartbeat and other state (`COORD_STATE_DIR`). `null` is the unit's state directory,
        `%S/forge-coordinator` (`~/.local/state/forge-coordinator` with systemd 254 or newer).
      '';
    };

    transcribeCommand = mkOption {
      type = types.nullOr command;
      default = null;
      description = ''
        Voice transcriber (`COORD_TRANSCRIBE_CMD`): the audio file's path is appended, it prints
        the transcript. `null`: voice notes get a "voice is not set up" reply.
      '';
    };

    pollTimeoutSeconds = mkOption {
      type = types.ints.between 0 50;
      default = 30;
      description = "`getUpdates` long-poll timeout in seconds (`COORD_POLL_TIMEOUT_S`).";
    };

    path = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.git pkgs.ripgrep ]";
      description = ''
        Packages whose `bin/` the brain finds first on its PATH, before the home-manager
        profile's, `~/.local/bin` and the system's.
      '';
    };

    environment = mkOption {
      type = types.attrsOf (types.oneOf [ types.str types.int types.float ]);
      default = { };
      example = { ANTHROPIC_MODEL = "sonnet"; };
      description = ''
        More environment variables for the bot and its brains (they override the settings above).
        Values are literal: `%` is escaped, nothing is expanded. No secrets here: the unit file is
        in the Nix store; use `environmentFile`.
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "A file of NAME=value lines read by systemd at start (`EnvironmentFile=`), for secrets the brain needs.";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.user.services.forge-coordinator = import ./unit.nix {
      execStart = lib.getExe cfg.package;
      # Never an empty entry: that would put the working directory on the PATH.
      path = lib.concatStringsSep ":" (
        lib.optional (cfg.path != [ ]) (lib.makeBinPath cfg.path)
        ++ [
        "${config.home.profileDirectory}/bin"
        "${config.home.homeDirectory}/.local/bin"
        "/run/current-system/sw/bin"
        "/usr/local/bin"
        "/usr/bin"
        "/bin"
        ]
      );
      inherit (cfg) tokenFile;
      environment = settings;
      environmentFiles = lib.optional (cfg.environmentFile != null) cfg.environmentFile;
    };
  };
}
