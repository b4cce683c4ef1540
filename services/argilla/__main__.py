import sys

from services.argilla.stack import main

sys.exit(main())
