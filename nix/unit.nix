# The systemd user unit in home-manager's form (`systemd.user.services.<name>`: sections of
# keys, a list value written as repeated keys). Builtins only, so that tests/packaging_test.ts can
# evaluate it offline and compare it, key for key, with systemd/forge-coordinator.service: the two
# differ only in ExecStart, PATH, the token file's path (LoadCredential=, SetCredential=), how the
# settings arrive (Environment= lines here, an EnvironmentFile= there) and WatchdogSec= (derived
# from the poll timeout here). Every choice is explained in that file's comments.
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
  # An EnvironmentFile= path (e.g. for the brain's own secrets), or null. Read with `-` and named
  # in COORD_ENV_FILE, so that the bot, not systemd, says when it is missing.
  environmentFile ? null,
  # WatchdogSec=, in seconds: above the longest turn of the loop (the poll timeout plus 10 s).
  watchdogSec ? 60,
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

  # Quoted when it must be, for an assignment whose `%` specifiers systemd is to expand.
  quote =
    text:
    assert builtins.match ".*[\n\r\"\\].*" text == null || throw "Can't be written in Environment=: ${text}";
    if builtins.match "[A-Za-z0-9_./:,@+=%-]*" text != null then text else "\"${text}\"";

  settings = map (name: assignment name environment.${name}) (builtins.attrNames environment);
  tokenSource = import ./token-file.nix tokenFile;
in
{
  Unit = {
    Description = "forge-coordinator Telegram bot";
    StartLimitIntervalSec = "10min";
    StartLimitBurst = "5";
  };
  Service = {
    Type = "notify";
    NotifyAccess = "all";
    WatchdogSec = "${toString watchdogSec}s";
    WorkingDirectory = "%h";
    ExecStart = execStart;
    Environment = [
      (assignment "PATH" path)
      "TELEGRAM_BOT_TOKEN_FILE=%d/telegram-bot-token"
      "COORD_LOCK_DIR=%t/forge-coordinator"
      "COORD_STATE_DIR=%h/.local/state/forge-coordinator"
    ]
    # Not through `assignment`: the same specifiers as in EnvironmentFile= must expand here.
    ++ (if environmentFile == null then [ ] else [ (quote "COORD_ENV_FILE=${environmentFile}") ])
    ++ settings;
    LoadCredential = "telegram-bot-token:${tokenSource}";
    SetCredential = "telegram-bot-token:missing:${tokenSource}";
    RuntimeDirectory = "forge-coordinator";
    RuntimeDirectoryMode = "0700";
    Restart = "on-failure";
    RestartSec = "15s";
    RestartPreventExitStatus = "73 77 78";
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
  // (if environmentFile == null then { } else { EnvironmentFile = "-${environmentFile}"; });
  Install = {
    WantedBy = [ "default.target" ];
  };
}
