"use strict";
// Shared by the linky pages: API calls with the session's CSRF token, the navigation bar,
// French labels (navigator.language "fr", or the FR/EN switch), small formatting helpers.
// The API is docs/design/web-api.md.

var S = { auth: false, logged_in: false, csrf: "", ap: false }; // GET /api/session

var FR_TEXT = {
  "Status": "État", "Settings": "Réglages", "Log in": "Connexion", "Log out": "Déconnexion",
  "offline": "hors ligne", "Meter": "Compteur", "Power": "Puissance", "Device": "Appareil",
  "Apparent power": "Puissance apparente", "Injected power": "Puissance injectée",
  "Last hour": "Dernière heure", "now": "maintenant", "min": "min",
  "State": "État", "Mode": "Mode", "Speed": "Vitesse", "Frames": "Trames", "Bytes": "Octets",
  "Groups": "Groupes", "Checksum errors": "Erreurs de somme de contrôle",
  "Format errors": "Erreurs de format", "Rejected indexes": "Index rejetés",
  "Version": "Version", "Uptime": "Durée de fonctionnement", "Heap in use": "Mémoire utilisée",
  "Reset cause": "Cause du redémarrage", "Last crash": "Dernier plantage", "none": "aucun",
  "Wi-Fi": "Wi-Fi", "Network": "Réseau", "Signal": "Signal", "IP address": "Adresse IP",
  "Broker": "Serveur", "off": "désactivé", "Access point": "Point d'accès",
  "Password": "Mot de passe", "Address": "Adresse", "Firmware update": "Mise à jour",
  "Update firmware": "Mettre à jour", "Update started.": "Mise à jour lancée.",
  "Log": "Journal", "Log in to see the log.": "Connectez-vous pour voir le journal.",
  "Log in to update the firmware.": "Connectez-vous pour mettre à jour.",
  "No values yet: waiting for the meter.": "Pas encore de valeurs : en attente du compteur.",
  "Join this network to set the device up:": "Rejoignez ce réseau pour configurer l'appareil :",
  "The device's own network, when it opens:": "Le réseau de l'appareil, quand il s'ouvre :",
  "Admin password": "Mot de passe administrateur", "Wrong password.": "Mot de passe incorrect.",
  "Too many attempts: try again in": "Trop d'essais : réessayez dans",
  "No admin password is set: anyone on this network can change the settings.":
    "Aucun mot de passe administrateur : toute personne sur ce réseau peut modifier les réglages.",
  "You are logged in.": "Vous êtes connecté.", "Save": "Enregistrer", "Restart": "Redémarrer",
  "Scan": "Rechercher", "Scanning…": "Recherche…", "No network found.": "Aucun réseau trouvé.",
  "unchanged if empty": "inchangé si vide", "not set": "non défini",
  "Saved. The device restarts…": "Enregistré. L'appareil redémarre…",
  "The device restarts…": "L'appareil redémarre…",
  "Nothing changed.": "Rien n'a changé.", "Some settings are wrong: see below.":
    "Certains réglages sont incorrects : voir ci-dessous.",
  "Cannot reach the device.": "Impossible de joindre l'appareil.",
  "Reconnect this phone or computer to your Wi-Fi network; the device will be at":
    "Reconnectez ce téléphone ou cet ordinateur à votre réseau Wi-Fi ; l'appareil sera à",
  "Upload a release file": "Envoyer un fichier de version", "Upload": "Envoyer",
  "TIC": "TIC", "MQTT": "MQTT", "Home Assistant and publishing": "Home Assistant et publication",
  "Security": "Sécurité", "Updates": "Mises à jour", "Other": "Autres",
  "on": "oui", "connected": "connecté", "connecting": "connexion", "up": "connecté",
  "joining": "connexion", "waiting": "en attente", "starting": "démarrage",
  "no signal": "pas de signal", "signal lost": "signal perdu", "garbled": "illisible",
  "searching": "recherche", "open": "ouvert", "ok": "ok", "Error": "Erreur",
  "linky: settings": "linky : réglages", "linky: log in": "linky : connexion"
};
var FR = localStorage.getItem("lang") ? localStorage.getItem("lang") === "fr"
  : /^fr\b/i.test(navigator.language || "");

function t(s) { return (FR && FR_TEXT[s]) || s; }
function $(id) { return document.getElementById(id); }

// el("td", {className: "x"}, "text", child...): a new element.
function el(tag, props) {
  var e = document.createElement(tag);
  for (var k in props || {}) e[k] = props[k];
  for (var i = 2; i < arguments.length; i++) {
    var c = arguments[i];
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// Translate the static text of `root` (text nodes and placeholders found in FR_TEXT).
function translate(root) {
  if (!FR) return;
  document.title = t(document.title);
  var w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT), n;
  while ((n = w.nextNode())) {
    var k = n.nodeValue.trim();
    if (FR_TEXT[k]) n.nodeValue = n.nodeValue.replace(k, FR_TEXT[k]);
  }
  root.querySelectorAll("[placeholder]").forEach(function (e) { e.placeholder = t(e.placeholder); });
}

// fetch(path) as JSON; with `body`, a POST (JSON, or a Blob as is) carrying the CSRF token.
// Resolves to {status, data}; status 0 when the device cannot be reached. A GET answered 500
// or 503 (the device short of memory or busy for a moment) is tried twice more, 0.8 s apart.
async function api(path, body, tries) {
  var o = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    o.method = "POST";
    o.headers["X-CSRF-Token"] = S.csrf;
    if (body instanceof Blob) {
      o.headers["Content-Type"] = "application/octet-stream";
      o.body = body;
    } else {
      o.headers["Content-Type"] = "application/json";
      o.body = JSON.stringify(body);
    }
  }
  var r;
  try {
    r = await fetch(path, o);
  } catch (e) {
    online(false);
    return { status: 0, data: null };
  }
  online(true);
  if (body === undefined && (r.status === 500 || r.status === 503) && (tries || 0) < 2) {
    await new Promise(function (ok) { setTimeout(ok, 800); });
    return api(path, undefined, (tries || 0) + 1);
  }
  var data = null;
  try { data = await r.json(); } catch (e) { /* empty or not JSON */ }
  return { status: r.status, data: data };
}

function online(up) {
  var d = $("offline");
  if (d) d.hidden = up;
}

function nav(page) {
  var h = el("header", {}, el("b", {}, "linky"));
  var links = [["/", "Status"], ["/config", "Settings"]];
  if (S.auth && !S.logged_in) links.push(["/login", "Log in"]);
  links.forEach(function (l) {
    var a = el("a", { href: l[0] }, t(l[1]));
    if (l[0] === page) a.setAttribute("aria-current", "page");
    h.append(a);
  });
  if (S.auth && S.logged_in) {
    var out = el("a", { href: "/login", id: "logout" }, t("Log out"));
    out.onclick = async function (ev) {
      ev.preventDefault();
      await api("/api/logout", {});
      location.href = "/";
    };
    h.append(out);
  }
  var lang = el("a", { href: "#", title: "English / Français" }, FR ? "EN" : "FR");
  lang.onclick = function (ev) {
    ev.preventDefault();
    localStorage.setItem("lang", FR ? "en" : "fr");
    location.reload();
  };
  h.append(el("span", { id: "offline", className: "bad", hidden: true }, t("offline")), lang);
  document.body.prepend(h);
}

// Page start: the session, the navigation, then `fn`.
async function start(page, fn) {
  document.documentElement.lang = FR ? "fr" : "en";
  translate(document.body);
  var r = await api("/api/session");
  if (r.data) S = r.data;
  nav(page);
  if (fn) fn();
}

function fmtUptime(s) {
  if (s === null || s === undefined) return "–";
  var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min" + (d ? "" : " " + (s % 60) + " s");
}

function fmtNum(n, unit) {
  if (n === null || n === undefined) return "–";
  return Number(n).toLocaleString(FR ? "fr-FR" : "en-GB") + (unit ? " " + unit : "");
}

// After a save or a reboot: wait until the device has restarted, then reload the page.
// `before`: /api/state seen before asking (or null). Restarted: another `boot` number (when
// the API gives one), a smaller uptime, an answer after a time without any, or, when the
// restart was too quick to notice, 15 s of answers.
function waitRestart(before) {
  var seenDown = false, t0 = Date.now();
  var poll = async function () {
    var r = await api("/api/state"), d = r.status === 200 && r.data;
    if (d && (seenDown || Date.now() - t0 > 15000 || (before &&
        ((d.boot !== undefined && d.boot !== before.boot) || d.uptime_s < before.uptime_s)))) {
      location.reload();
      return;
    }
    if (!d) seenDown = true;
    setTimeout(poll, 1500);
  };
  setTimeout(poll, 1500);
}
