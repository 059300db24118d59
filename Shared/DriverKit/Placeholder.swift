// PazDriverKit lands with issue 3.
