import sys

from keras_au.cli import main

sys.exit(main())
