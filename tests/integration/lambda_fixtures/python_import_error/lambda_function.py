"""lambda_function.py - a handler module that cannot be imported (Runtime.ImportModuleError)."""

import quarry_no_such_module_for_tests  # noqa: F401  (the point of this fixture)


def lambda_handler(event, context):
    return "unreachable"
