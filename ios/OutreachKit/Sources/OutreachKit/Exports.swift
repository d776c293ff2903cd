// OutreachKit re-exports OutreachCore (Messages, Vocab, Core.run, Dates,
// the draft and report helpers: the non-UI code that also builds on Linux,
// see scripts/build-swift-linux.sh), so the app imports OutreachKit alone.
@_exported import OutreachCore
