# Scheduled asks on systemd user timers, for the home-manager and NixOS modules:
# `services.forge-coordinator.schedules.<name> = { onCalendar; prompt; chat; persistent; }`
# becomes, for each, a timer `forge-coordinator-schedule-<name>.timer` (`OnCalendar=`, and
# `Persistent=` so that a run missed while the box was off happens at its next start) and a
# oneshot service of the same name that runs `forge-coordinator ask`: the prompt goes into the
# chat's queue as if the person had sent it, marked as scheduled. `/status` lists these timers
# (lib/handler/schedules.ts). Builtins only below `options`, so that tests/packaging_box_test.ts
# can evaluate it offline.
{ lib }:
let
  inherit (lib) mkOption types;

  # A literal for ExecStart=: quoted, with what systemd would expand (`%` specifiers, `$`
  # variables) doubled, and what its C-style unquoting reads (`\`, `"`) escaped.
  quote =
    text:
    assert builtins.match ".*[\n\r].*" text == null || throw "schedules: a prompt can't hold a newline in ExecStart=";
    "\"" + builtins.replaceStrings [ "\\" "\"" "%" "$" ] [ "\\\\" "\\\"" "%%" "$$" ] text + "\"";

  unitName =
    name:
    assert builtins.match "[A-Za-z0-9_.-]+" name != null || throw "schedules: \"${name}\" can't be part of a unit name (letters, digits, _ . - only)";
    "forge-coordinator-schedule-${name}";
in
rec {
  options.schedules = mkOption {
    type = types.attrsOf (
      types.submodule {
        options = {
          onCalendar = mkOption {
            type = types.str;
            example = "Mon..Fri 07:30";
            description = "When it runs: a systemd calendar event (`man systemd.time`), in the box's time zone.";
          };
          prompt = mkOption {
            type = types.str;
            example = "Brief me on today's calendar.";
            description = "What the brain is asked, as if the person had sent it (one line).";
          };
          chat = mkOption {
            type = types.nullOr types.int;
            default = null;
            description = "The chat it is asked in. `null`: the first of `authorizedUserIds`' private chats.";
          };
          persistent = mkOption {
            type = types.bool;
            default = true;
            description = "Run at the next start a run that was missed while the box was off (`Persistent=`).";
          };
        };
      }
    );
    default = { };
    example = lib.literalExpression ''
      {
        morning = { onCalendar = "Mon..Fri 07:30"; prompt = "Brief me on today's calendar."; };
      }
    '';
    description = ''
      Asks the brain on a schedule, each on a systemd user timer of its own
      (`forge-coordinator-schedule-<name>.timer`) that runs `forge-coordinator ask` in a oneshot
      service: the prompt is shown in the chat as the bot's own message ("⏰ Scheduled: …"), waits
      its turn there, and is answered as a reply to it.
    '';
  };

  # The units of each schedule, in home-manager's form (sections of keys): name -> { timer; service; }.
  # `exe` is the package's program; `environment` the bot unit's Environment= lines (the state
  # folder and the settings `ask` reads), of which the token's file and the lock folder are dropped.
  units =
    {
      schedules,
      exe,
      environment,
      defaultChat,
    }:
    builtins.listToAttrs (
      map (
        name:
        let
          # The options' defaults, also where no module system applied them (the tests' stand-in).
          s = {
            chat = null;
            persistent = true;
          }
          // schedules.${name};
          unit = unitName name;
          chat = if s.chat == null then defaultChat else s.chat;
          keep = line: builtins.match "(TELEGRAM_BOT_TOKEN_FILE|COORD_LOCK_DIR)=.*" line == null;
        in
        {
          name = unit;
          value = {
            timer = {
              Unit.Description = "forge-coordinator schedule ${name}";
              Timer = {
                OnCalendar = s.onCalendar;
                Persistent = if s.persistent then "true" else "false";
              };
              Install.WantedBy = [ "timers.target" ];
            };
            service = {
              Unit.Description = "forge-coordinator schedule ${name}: the brain is asked";
              Service = {
                Type = "oneshot";
                ExecStart = "${exe} ask --chat ${toString chat} -- ${quote s.prompt}";
                Environment = builtins.filter keep environment;
              };
            };
          };
        }
      ) (builtins.attrNames schedules)
    );

  # For home-manager: `systemd.user.services` and `systemd.user.timers` of the schedules.
  homeManager =
    args:
    let
      all = units args;
    in
    {
      services = builtins.mapAttrs (_: u: u.service) all;
      timers = builtins.mapAttrs (_: u: u.timer) all;
    };

  # For NixOS: the same units, for the bot's user only (every user's manager loads user units).
  nixos =
    args: user:
    let
      all = units args;
    in
    {
      services = builtins.mapAttrs (_: u: {
        description = u.service.Unit.Description;
        unitConfig.ConditionUser = user;
        serviceConfig = u.service.Service;
      }) all;
      timers = builtins.mapAttrs (_: u: {
        description = u.timer.Unit.Description;
        unitConfig.ConditionUser = user;
        timerConfig = u.timer.Timer;
        wantedBy = u.timer.Install.WantedBy;
      }) all;
    };
}
