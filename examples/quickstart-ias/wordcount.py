"""A command tool: reads the call's JSON arguments on stdin and prints the word count."""

import json
import sys

arguments = json.load(sys.stdin)
print(len(str(arguments.get("text", "")).split()))
