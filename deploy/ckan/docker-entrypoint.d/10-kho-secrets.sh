# Kho: sourced by ckan-base's start script (after its prerun, before the web server starts).
#
# The image writes fresh random secrets into ckan.ini when a container is created; with them, every
# re-created container would log everyone out and invalidate the publisher's API token (a JWT signed
# with api_token.jwt.*.secret). CKAN_SECRET_KEY from deploy/kho.env keeps them stable.
if [ -n "${CKAN_SECRET_KEY:-}" ]; then
    ckan config-tool "$CKAN_INI" \
        "SECRET_KEY = ${CKAN_SECRET_KEY}" \
        "WTF_CSRF_SECRET_KEY = ${CKAN_SECRET_KEY}" \
        "api_token.jwt.encode.secret = string:${CKAN_SECRET_KEY}" \
        "api_token.jwt.decode.secret = string:${CKAN_SECRET_KEY}" \
        && echo "10-kho-secrets.sh: secrets set from CKAN_SECRET_KEY"
else
    echo "10-kho-secrets.sh: CKAN_SECRET_KEY is not set; API tokens will not survive a re-created container" >&2
fi
