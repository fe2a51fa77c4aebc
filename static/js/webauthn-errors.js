// Passkey pages: when the browser's passkey prompt fails or is cancelled, allauth's
// webauthn.js dispatches "allauth.error"; show the page's own message instead of a console
// error. Loaded as a static file (CSP: script-src 'self').
(function () {
  'use strict'
  document.addEventListener('allauth.error', function (event) {
    const message = document.getElementById('webauthn-error')
    if (message) {
      message.hidden = false
      event.preventDefault()
    }
  })
})()
