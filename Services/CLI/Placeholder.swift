// PazMachineCLI lands with issue 3.
