// Every string the UI shows, in English and German. German is the reference for tone: plain, polite
// ("Sie"), no jargon. Placeholders are written {name} and must match across languages (tested).

export const en = {
  "app.tagline": "Video conferencing on servers you trust",
  "app.privacy":
    "Runde talks only to the server you choose. No analytics, no crash reports, no update checks.",
  "lang.switch": "Deutsch",
  "lang.switchLabel": "Switch the language to German",

  "home.title": "Join a conversation",
  "home.lead":
    "Paste the link you were given. The password comes separately — you will enter it in its own field.",
  "home.linkLabel": "Conference link",
  "home.linkPlaceholder": "https://meet.example.org/janus?room=1234",
  "home.check": "Check link",
  "home.checking": "Checking…",
  "home.nothingSent": "Nothing has been sent yet: Runde has only read the link.",

  "report.heading": "What this link says",
  "report.server": "Server",
  "report.room": "Room",
  "report.noRoom": "no room named — the server will be asked",
  "report.connection": "Connection",
  "report.tls": "encrypted to the server (TLS)",
  "report.loopback": "unencrypted, but only to this computer",
  "report.serverType": "Server type",
  "report.serverTypeUnknown": "not checked yet",

  "error.heading": "This link cannot be used",
  "error.LinkEmpty": "Please paste a link first.",
  "error.LinkTooLong": "This text is far longer than a conference link. Please check what you pasted.",
  "error.NotALink": "This is not a link. A conference link starts with https://",
  "error.UnsupportedScheme":
    "Links starting with “{scheme}:” cannot be joined. A conference link starts with https://",
  "error.LinkMissingServer": "The link does not name a server.",
  "error.InsecureTransport":
    "The link uses an unencrypted connection to another computer. Ask for a link that starts with https://",
  "error.PasswordInLink":
    "This link contained a password or access code. Runde never takes passwords from links, so that a forwarded link does not give the meeting away. The password was removed and not stored; enter it in its own field when you join.",
  "error.PasswordInLink.use": "Use the link without the password",
  "error.InvalidRoom": "The room name in the link is not valid. Please ask for the link again.",
  "error.LinkWithoutRoom": "The link names a server but no room. Please ask for the full link to the meeting.",
  "error.ServerUnreachable":
    "The server cannot be reached. Check your internet connection, or ask the organiser whether the server is running. ({detail})",
  "error.TlsFailed":
    "A secure connection to the server could not be made, so Runde did not connect. ({detail})",
  "error.NotAConferenceServer":
    "Something answers at this link, but it is not a conferencing server Runde can talk to. ({detail})",
  "error.PasswordRequired": "This room needs a password. Please enter it in the password field.",
  "error.WrongPassword": "The password was not accepted. Please check it and try again.",
  "error.RoomNotFound": "This room does not exist on the server. Please check the link with the organiser.",
  "error.RoomFull": "The room is full. Please try again later or ask the organiser.",
  "error.JoinRefused": "The server refused to let you in ({detail}).",
  "error.ServerLost": "The connection to the server was lost ({detail}).",
  "error.ProtocolError": "The server sent something Runde does not understand ({detail}).",
  "error.MediaFailed": "A microphone, speaker, camera or media file could not be used ({detail}).",
  "error.ServerBlocked": "You blocked this server ({origin}). Runde will not connect to it.",
  "error.NewServer":
    "Runde has not met this server before. Check who runs it and its key, then trust it or cancel.",
  "error.ServerKeyChanged":
    "This server presented a different key than the one you trusted, so Runde blocked the call. Someone may be listening in. Ask the operator before trusting the new key.",
  "error.ServerNotTrusted":
    "No authority your computer trusts vouches for this server. Trust it only if you checked its key with the operator.",
  "error.TrustStoreFailed": "Runde cannot read or save the list of trusted servers ({detail}).",
  "error.NotAllowedByPolicy":
    "Your administrator’s policy does not allow this server ({origin}). Ask your administrator if you need it.",
  "error.PolicyUnreadable":
    "Your administrator’s policy cannot be read, so Runde does not join any call ({detail}). Please tell your administrator.",
  "error.PasswordNotRemembered": "The password worked, but Runde could not remember it ({detail}).",
  "error.BridgeFailure": "Runde’s engine did not answer ({detail}). Please restart Runde.",
} as const;

export type MessageKey = keyof typeof en;
export type Messages = Record<MessageKey, string>;

export const de: Messages = {
  "app.tagline": "Videokonferenzen auf Servern, denen Sie vertrauen",
  "app.privacy":
    "Runde spricht nur mit dem Server, den Sie wählen. Keine Analyse, keine Absturzberichte, keine Update-Abfragen.",
  "lang.switch": "English",
  "lang.switchLabel": "Sprache auf Englisch umstellen",

  "home.title": "An einem Gespräch teilnehmen",
  "home.lead":
    "Fügen Sie den Link ein, den Sie erhalten haben. Das Passwort kommt getrennt – Sie geben es in einem eigenen Feld ein.",
  "home.linkLabel": "Konferenz-Link",
  "home.linkPlaceholder": "https://meet.example.org/janus?room=1234",
  "home.check": "Link prüfen",
  "home.checking": "Wird geprüft …",
  "home.nothingSent": "Es wurde noch nichts gesendet: Runde hat nur den Link gelesen.",

  "report.heading": "Was dieser Link angibt",
  "report.server": "Server",
  "report.room": "Raum",
  "report.noRoom": "kein Raum angegeben – der Server wird gefragt",
  "report.connection": "Verbindung",
  "report.tls": "verschlüsselt bis zum Server (TLS)",
  "report.loopback": "unverschlüsselt, aber nur zu diesem Computer",
  "report.serverType": "Server-Art",
  "report.serverTypeUnknown": "noch nicht geprüft",

  "error.heading": "Dieser Link kann nicht verwendet werden",
  "error.LinkEmpty": "Bitte fügen Sie zuerst einen Link ein.",
  "error.LinkTooLong":
    "Dieser Text ist viel länger als ein Konferenz-Link. Bitte prüfen Sie, was Sie eingefügt haben.",
  "error.NotALink": "Das ist kein Link. Ein Konferenz-Link beginnt mit https://",
  "error.UnsupportedScheme":
    "Links, die mit „{scheme}:“ beginnen, können nicht verwendet werden. Ein Konferenz-Link beginnt mit https://",
  "error.LinkMissingServer": "Der Link nennt keinen Server.",
  "error.InsecureTransport":
    "Der Link verwendet eine unverschlüsselte Verbindung zu einem anderen Computer. Bitten Sie um einen Link, der mit https:// beginnt.",
  "error.PasswordInLink":
    "Dieser Link enthielt ein Passwort oder einen Zugangscode. Runde übernimmt nie Passwörter aus Links, damit ein weitergeleiteter Link das Treffen nicht preisgibt. Das Passwort wurde entfernt und nicht gespeichert; geben Sie es beim Beitreten im eigenen Feld ein.",
  "error.PasswordInLink.use": "Link ohne Passwort verwenden",
  "error.InvalidRoom": "Der Raumname im Link ist ungültig. Bitte fragen Sie noch einmal nach dem Link.",
  "error.LinkWithoutRoom": "Der Link nennt einen Server, aber keinen Raum. Bitte fragen Sie nach dem vollständigen Link zum Treffen.",
  "error.ServerUnreachable":
    "Der Server ist nicht erreichbar. Prüfen Sie Ihre Internetverbindung oder fragen Sie die Organisatorin oder den Organisator, ob der Server läuft. ({detail})",
  "error.TlsFailed":
    "Eine sichere Verbindung zum Server kam nicht zustande, deshalb hat Runde sich nicht verbunden. ({detail})",
  "error.NotAConferenceServer":
    "Unter diesem Link antwortet etwas, aber kein Konferenzserver, mit dem Runde sprechen kann. ({detail})",
  "error.PasswordRequired": "Dieser Raum braucht ein Passwort. Bitte geben Sie es im Passwortfeld ein.",
  "error.WrongPassword": "Das Passwort wurde nicht angenommen. Bitte prüfen Sie es und versuchen Sie es erneut.",
  "error.RoomNotFound": "Diesen Raum gibt es auf dem Server nicht. Bitte prüfen Sie den Link mit der Organisation.",
  "error.RoomFull": "Der Raum ist voll. Bitte versuchen Sie es später noch einmal oder fragen Sie die Organisation.",
  "error.JoinRefused": "Der Server hat den Beitritt abgelehnt ({detail}).",
  "error.ServerLost": "Die Verbindung zum Server ist abgebrochen ({detail}).",
  "error.ProtocolError": "Der Server hat etwas geschickt, das Runde nicht versteht ({detail}).",
  "error.MediaFailed": "Ein Mikrofon, Lautsprecher, eine Kamera oder Mediendatei ließ sich nicht verwenden ({detail}).",
  "error.ServerBlocked": "Sie haben diesen Server gesperrt ({origin}). Runde verbindet sich nicht mit ihm.",
  "error.NewServer":
    "Runde kennt diesen Server noch nicht. Prüfen Sie, wer ihn betreibt, und seinen Schlüssel; vertrauen Sie ihm dann oder brechen Sie ab.",
  "error.ServerKeyChanged":
    "Dieser Server zeigte einen anderen Schlüssel als den, dem Sie vertraut haben; Runde hat den Anruf deshalb blockiert. Möglicherweise hört jemand mit. Fragen Sie den Betreiber, bevor Sie dem neuen Schlüssel vertrauen.",
  "error.ServerNotTrusted":
    "Keine Stelle, der Ihr Computer vertraut, bürgt für diesen Server. Vertrauen Sie ihm nur, wenn Sie seinen Schlüssel mit dem Betreiber abgeglichen haben.",
  "error.TrustStoreFailed": "Runde kann die Liste vertrauenswürdiger Server nicht lesen oder speichern ({detail}).",
  "error.NotAllowedByPolicy":
    "Die Richtlinie Ihrer Administration erlaubt diesen Server nicht ({origin}). Fragen Sie Ihre Administration, wenn Sie ihn brauchen.",
  "error.PolicyUnreadable":
    "Die Richtlinie Ihrer Administration ist nicht lesbar, deshalb tritt Runde keinem Anruf bei ({detail}). Bitte informieren Sie Ihre Administration.",
  "error.PasswordNotRemembered": "Das Passwort hat funktioniert, aber Runde konnte es sich nicht merken ({detail}).",
  "error.BridgeFailure": "Runde antwortet nicht ({detail}). Bitte starten Sie Runde neu.",
};

export const catalogs = { en, de } satisfies Record<string, Messages>;
export type Lang = keyof typeof catalogs;
