# The systemd user unit in home-manager's form (`systemd.user.services.<name>`: sections of
# keys, a list value written as repeated keys). Builtins only, so that tests/packaging_test.ts can
# evaluate it offline and compare it, key for key, with systemd/forge-coordinator.service: the two
# differ only in ExecStart, PATH, LoadCredential's source and how the settings arrive (Environment=
# lines here, an EnvironmentFile= there). Every choice is explained in that file's comments.
{
  # The command line, e.g. "/nix/store/...-forge-coordinator/bin/forge-coordinator".
  execStart,
  # The brain's PATH.
  path,
  # The file holding the bot token (read by systemd at each start, never copied to the store): an
  # absolute path, or one starting with a specifier or ${XDG_RUNTIME_DIR} (see ./token-file.nix).
  tokenFile,
  # Settings and extra variables: name -> literal value (`%` is escaped, nothing is expanded).
  environment ? { },
  # More EnvironmentFile= paths (e.g. for the brain's own secrets).
  environmentFiles ? [ ],
}:
let
  # One Environment= assignment, quoted when it has to be. systemd resolves `%` specifiers in
  # Environment= values, so a literal `%` is doubled.
  assignment =
    name: value:
    let
      string = if builtins.isFloat value then builtins.toJSON value else toString value;
      text = "${name}=${builtins.replaceStrings [ "%" ] [ "%%" ] string}";
      plain = builtins.match "[A-Za-z0-9_./:,@+=-]*" text != null;
      quoted = "\"" + builtins.replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] text + "\"";
    in
    assert builtins.match "[A-Za-z_][A-Za-z0-9_]*" name != null || throw "Not a variable name: \"${name}\"";
    assert builtins.match ".*[\n\r].*" string == null || throw "${name}: a newline can't be passed in Environment=";
    if plain then text else quoted;

  settings = map (name: assignment name environment.${name}) (builtins.attrNames environment);
in
{
  Unit = {
    Description = "forge-coordinator Telegram bot";
    StartLimitIntervalSec = "0";
  };
  Service = {
    Type = "notify";
    NotifyAccess = "all";
    WatchdogSec = "60s";
    WorkingDirectory = "%h";
    ExecStart = execStart;
    Environment = [
      (assignment "PATH" path)
      "TELEGRAM_BOT_TOKEN_FILE=%d/telegram-bot-token"
      "COORD_LOCK_DIR=%t/forge-coordinator"
      "COORD_STATE_DIR=%h/.local/state/forge-coordinator"
    ] ++ settings;
    LoadCredential = "telegram-bot-token:${import ./token-file.nix tokenFile}";
    RuntimeDirectory = "forge-coordinator";
    RuntimeDirectoryMode = "0700";
    Restart = "on-failure";
    RestartSec = "15s";
    RestartPreventExitStatus = "77 78";
    KillMode = "mixed";
    TimeoutStopSec = "20s";
    OOMPolicy = "continue";
    Delegate = "yes";
    SyslogIdentifier = "forge-coordinator";
    LimitCORE = "0";
    NoNewPrivileges = "yes";
    RestrictAddressFamilies = "AF_UNIX AF_INET AF_INET6 AF_NETLINK";
    LockPersonality = "yes";
    RestrictRealtime = "yes";
    RestrictSUIDSGID = "yes";
    SystemCallArchitectures = "native";
  }
  // (if environmentFiles == [ ] then { } else { EnvironmentFile = environmentFiles; });
  Install = {
    WantedBy = [ "default.target" ];
  };
}
