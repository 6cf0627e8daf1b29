# home-manager module: `services.forge-coordinator` runs the bot as a systemd user unit, the same
# unit as systemd/forge-coordinator.service (see ./unit.nix) with the Nix package's binary, and
# puts the package on `home.packages` (so `forge-coordinator health` and `smoke` are on PATH).
# The options are in ./module-common.nix and ./settings.nix, shared with ./nixos.nix; scheduled asks
# (`schedules`, user timers) in ./schedules.nix.
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
  unit = common.unit cfg {
    profileBin = "${config.home.profileDirectory}/bin";
    home = config.home.homeDirectory;
  };
  scheduled = schedules.homeManager {
    inherit (cfg) schedules;
    exe = lib.getExe cfg.package;
    environment = unit.Service.Environment;
    defaultChat = builtins.head cfg.authorizedUserIds;
  };
in
{
  options.services.forge-coordinator = common.options // schedules.options // {
    package = common.options.package // {
      default = common.defaultPackage cfg;
      defaultText = common.defaultPackageText;
    };
  };

  config = lib.mkIf cfg.enable {
    home.packages = [ cfg.package ];
    systemd.user.services = {
      forge-coordinator = unit;
    } // scheduled.services;
    systemd.user.timers = scheduled.timers;
  };
}
