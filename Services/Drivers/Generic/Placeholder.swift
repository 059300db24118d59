// PazGenericDriver lands with issue 3.
