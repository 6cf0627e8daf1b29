# NixOS module, for a machine without home-manager: `services.forge-coordinator` runs the bot as
# a systemd user unit of one named user (`user`), the same unit as the home-manager module's and
# systemd/forge-coordinator.service (see ./unit.nix). It is installed for every user's manager
# (that is how NixOS ships user units) but starts only in `user`'s (ConditionUser=); the package
# goes on that user's PATH, and lingering keeps their manager running without a login.
# The options are in ./module-common.nix and ./settings.nix, shared with ./home-manager.nix; scheduled
# asks (`schedules`, user timers of this user only) in ./schedules.nix.
{ self }:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.forge-coordinator;
  common = import ./module-common.nix { inherit self lib pkgs; };
  schedules = import ./schedules.nix { inherit lib; };
  inherit (lib) mkOption types;
  unit = common.unit cfg {
    profileBin = "/etc/profiles/per-user/${cfg.user}/bin";
    home = config.users.users.${cfg.user}.home;
  };
  scheduled = schedules.nixos {
    inherit (cfg) schedules;
    exe = lib.getExe cfg.package;
    environment = unit.Service.Environment;
    defaultChat = builtins.head cfg.authorizedUserIds;
  } cfg.user;
in
{
  options.services.forge-coordinator = common.options // schedules.options // {
    package = common.options.package // {
      default = common.defaultPackage cfg;
      defaultText = common.defaultPackageText;
    };
    user = mkOption {
      type = types.str;
      example = "me";
      description = ''
        The user the bot acts for: its unit runs in their systemd user manager, with their home,
        their tools and their `claude` login. The user must exist (`users.users.<name>`).
      '';
    };
    linger = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Keep the user's manager (and so the bot) running while they are not logged in
        (`users.users.<user>.linger`, what `loginctl enable-linger` does).
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    users.users.${cfg.user} = {
      packages = [ cfg.package ];
      linger = cfg.linger;
    };
    systemd.user.services = {
      forge-coordinator = {
        description = unit.Unit.Description;
        # Every user's manager loads the unit; only this user's starts it.
        unitConfig = removeAttrs unit.Unit [ "Description" ] // {
          ConditionUser = cfg.user;
        };
        # Environment= lines of ours come after NixOS's own (its default PATH), so ours win.
        serviceConfig = unit.Service;
        wantedBy = unit.Install.WantedBy;
      };
    } // scheduled.services;
    systemd.user.timers = scheduled.timers;
  };
}
