# Homebrew formula template for hfbroker. scripts/release VERSION fills in
# @VERSION@ and the @SHA256_<os>_<arch>@ checksums of its archives and writes
# the result to dist/release/hfbroker.rb, for a tap. CI checks this template
# with 'ruby -c'.
#
# The service block makes 'brew services start hfbroker' run the daemon from
# Homebrew's own prefix (/opt/homebrew on Apple Silicon, /usr/local on Intel
# Macs, /home/linuxbrew/.linuxbrew on Linux): Homebrew writes the launchd
# agent (or systemd user unit) with that path itself. Use either it or
# 'hfbrokerd install', not both: they would be two agents for one socket (the
# second daemon finds the first serving and exits).
class Hfbroker < Formula
  desc "Local credential broker for Hugging Face tokens"
  homepage "https://github.com/hfbroker/hfbroker"
  version "@VERSION@"
  license "Apache-2.0"

  on_macos do
    on_arm do
      url "https://github.com/hfbroker/hfbroker/releases/download/v@VERSION@/hfbroker_@VERSION@_darwin_arm64.tar.gz"
      sha256 "@SHA256_darwin_arm64@"
    end
    on_intel do
      url "https://github.com/hfbroker/hfbroker/releases/download/v@VERSION@/hfbroker_@VERSION@_darwin_amd64.tar.gz"
      sha256 "@SHA256_darwin_amd64@"
    end
  end

  on_linux do
    on_arm do
      url "https://github.com/hfbroker/hfbroker/releases/download/v@VERSION@/hfbroker_@VERSION@_linux_arm64.tar.gz"
      sha256 "@SHA256_linux_arm64@"
    end
    on_intel do
      url "https://github.com/hfbroker/hfbroker/releases/download/v@VERSION@/hfbroker_@VERSION@_linux_amd64.tar.gz"
      sha256 "@SHA256_linux_amd64@"
    end
  end

  def install
    bin.install "hfbroker", "hfbrokerd"
    # The full CLI, which the hfbroker front end executes for all but its
    # hot commands: found in ../libexec/hfbroker/ from bin/hfbroker.
    (libexec/"hfbroker").install "hfbroker-cli"
    man1.install Dir["man/man1/*.1"]
    bash_completion.install "completions/hfbroker.bash" => "hfbroker"
    zsh_completion.install "completions/_hfbroker"
    fish_completion.install "completions/hfbroker.fish"
    doc.install "README.md"
  end

  # As the unit 'hfbrokerd install' writes: start at login, restart only
  # after a failure (the daemon exits 0 on purpose when its socket is removed
  # or another daemon already serves).
  service do
    run [opt_bin/"hfbrokerd", "run"]
    run_at_load true
    keep_alive successful_exit: false
    log_path var/"log/hfbroker/hfbrokerd.log"
    error_log_path var/"log/hfbroker/hfbrokerd.log"
  end

  def post_install
    (var/"log/hfbroker").mkpath
  end

  test do
    assert_match "hfbroker version v#{version}", shell_output("#{bin}/hfbroker version")
    assert_match "hfbrokerd version v#{version}", shell_output("#{bin}/hfbrokerd version")
    assert_match "hfbroker version v#{version}", shell_output("#{libexec}/hfbroker/hfbroker-cli version")
  end
end
