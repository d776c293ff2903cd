#!/usr/bin/env bash
# Builds the iOS app: the XCFramework (scripts/build-xcframework.sh), then
# the Xcode project from ios/OutreachApp/project.yml (XcodeGen), then the app
# for the simulator. NEEDS macOS with Xcode and XcodeGen (brew install
# xcodegen); nothing of this runs on the Linux CI machines, where the Swift
# files are only parsed (tree-sitter) and the C header compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname)" = Darwin ] || { echo "error: building the iOS app needs macOS with Xcode" >&2; exit 2; }
command -v xcodegen >/dev/null || { echo "error: install XcodeGen (brew install xcodegen)" >&2; exit 2; }
scripts/build-xcframework.sh
(cd ios/OutreachApp && xcodegen generate)
xcodebuild -project ios/OutreachApp/OutreachApp.xcodeproj -scheme OutreachApp \
  -destination 'generic/platform=iOS Simulator' -configuration Debug build
