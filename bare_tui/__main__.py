from bare_tui.cli import main

raise SystemExit(main())
