// PazGateway lands with issue 3.
