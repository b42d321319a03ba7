--- French messages of kiva.i18n (English pattern → French pattern, same %-items in order).
return {
  -- summary
  ["%s: read %d, valid %d, invalid %d, sent %d, skipped %d, rejected %d, unknown %d"] =
    "%s : lus %d, valides %d, invalides %d, envoyés %d, déjà envoyés %d, refusés %d, issue inconnue %d",
  [" (dry run)"] = " (essai à blanc)",
  [" for %s"] = " pour %s",
  ["  %d row(s) left out by the mapping (it returned nil)"] =
    "  %d ligne(s) écartée(s) par le mapping (il a renvoyé nil)",
  ["  %d valid item(s) carry warnings (see the report)"] =
    "  %d élément(s) valide(s) avec des avertissements (voir le rapport)",
  ["Warning: %s"] = "Avertissement : %s",
  ["  %d changed since sent (not resent; --resend-changed resends them)"] =
    "  %d modifié(s) depuis l'envoi (non renvoyé(s) ; --resend-changed les renvoie)",
  ["  %d not sent this run (they will be sent by the next run)"] =
    "  %d non envoyé(s) cette fois (la prochaine exécution les enverra)",
  ["Invalid (fix the export or the mapping):"] = "Invalides (corrigez l'export ou le mapping) :",
  ["Rejected by Kiva:"] = "Refusés par Kiva :",
  ["Outcome unknown (check PA2, then `kiva ledger resolve KEY sent|unsent`):"] =
    "Issue inconnue (vérifiez dans PA2, puis `kiva ledger resolve CLÉ sent|unsent`) :",
  ["With warnings (what PA2 needs before publishing, or what looks wrong but may be right):"] =
    "Avec des avertissements (ce que PA2 demandera avant publication, ou ce qui semble faux mais peut être juste) :",
  ["Changed since sent:"] = "Modifiés depuis l'envoi :",
  ["Not sent:"] = "Non envoyés :",
  ["  ... and %d more (all of them in %s)"] = "  ... et %d de plus (tous dans %s)",
  ["  ... and %d more (run again with --problems FILE.xlsx to list them all)"] =
    "  ... et %d de plus (relancez avec --problems FICHIER.xlsx pour les lister tous)",
  ["A previous run was interrupted; %d item(s) are now of unknown outcome."] =
    "Une exécution précédente a été interrompue ; %d élément(s) sont désormais d'issue inconnue.",
  ["Journals to confirm:"] = "Journaux à confirmer :",
  ["Payloads written: %d file(s) under %s"] = "Requêtes écrites : %d fichier(s) dans %s",
  ["Stopped: %s"] = "Arrêt : %s",
  ["Next: %s"] = "Ensuite : %s",
  ["Review the new drafts in PA2 (Loans > Drafts) and publish them."] =
    "Relisez les nouveaux brouillons dans PA2 (Loans > Drafts) et publiez-les.",
  ["Ask the Kiva coordinator to review and finalise the repayment upload in PA2."] =
    "Demandez au coordinateur Kiva de vérifier et finaliser l'envoi des remboursements dans PA2.",
  ["Open each confirm_url above to publish the journal."] =
    "Ouvrez chaque confirm_url ci-dessus pour publier le journal.",
  -- run log
  ["== kiva %s: %s, started %s"] = "== kiva %s : %s, démarré le %s",
  ["Target: %s, %s, partner %s; ledger %s"] = "Cible : %s, %s, partenaire %s ; registre %s",
  ["Repayment uploads of this run (one per batch):"] = "Envois de remboursements de cette exécution (un par lot) :",
  ["  batch %s: upload %s, %d repayment(s): %s"] = "  lot %s : envoi %s, %d remboursement(s) : %s",
  ["  batch %s: %d repayment(s), no upload id: %s"] = "  lot %s : %d remboursement(s), sans numéro d'envoi : %s",
  ["    Kiva said: %s"] = "    Réponse de Kiva : %s",
  ["received by Kiva; the coordinator reviews and finalises it in PA2"] =
    "reçu par Kiva ; le coordinateur le vérifie et le finalise dans PA2",
  ["received by Kiva, some lines refused (listed above); finalise it in PA2"] =
    "reçu par Kiva, certaines lignes refusées (voir plus haut) ; à finaliser dans PA2",
  ["refused by Kiva as a whole; nothing of it was recorded (reasons above)"] =
    "refusé en entier par Kiva ; rien n'a été enregistré (raisons plus haut)",
  ["outcome unknown: the request went out but no answer came back, so Kiva may or may not have recorded it. "
    .. "Look in PA2 for an upload of this period with these loans, then run `kiva ledger resolve KEY sent` "
    .. "(found) or `unsent` (not found) for its items"] =
    "issue inconnue : la requête est partie mais aucune réponse n'est revenue, Kiva l'a peut-être enregistrée. "
    .. "Cherchez dans PA2 un envoi de cette période avec ces prêts, puis lancez `kiva ledger resolve CLÉ sent` "
    .. "(trouvé) ou `unsent` (absent) pour ses éléments",
  ["not sent (nothing left this machine); the next run sends it"] =
    "non envoyé (rien n'est parti) ; la prochaine exécution l'enverra",
  ["%d loan draft(s) created: find them in PA2 under Loans > Drafts (search by internal loan id)."] =
    "%d brouillon(s) de prêt créé(s) : dans PA2, Loans > Drafts (recherche par identifiant interne du prêt).",
  ["Written: %s"] = "Écrits : %s",
  ["report %s"] = "rapport %s",
  ["problems %s"] = "problèmes %s",
  ["== finished %s after %s, exit %d: %s"] = "== terminé le %s après %s, code de sortie %d : %s",
  ["all done"] = "tout est fait",
  ["needs attention (see above)"] = "à traiter (voir plus haut)",
  -- progress
  ["reading%s"] = "lecture%s",
  ["sending%s"] = "envoi%s",
  ["%d rows"] = "%d lignes",
  ["%d valid"] = "%d valides",
  ["%d invalid"] = "%d invalides",
  ["%d rejected"] = "%d refusés",
  ["%d unknown"] = "%d inconnus",
  ["%d retries"] = "%d nouvelles tentatives",
  ["%.1f items/s"] = "%.1f éléments/s",
  ["ETA %s"] = "fin dans %s",
  -- what to do after an error
  ["The client id or secret was refused: check KIVA_CLIENT_ID and KIVA_CLIENT_SECRET (or --credentials)."] =
    "L'identifiant ou le secret client a été refusé : vérifiez KIVA_CLIENT_ID et KIVA_CLIENT_SECRET (ou "
    .. "--credentials).",
  ["These credentials lack the permission for this call: ask Kiva to add the scope."] =
    "Ces identifiants n'ont pas le droit pour cet appel : demandez à Kiva d'ajouter le scope.",
  ["Check the settings named above (kiva COMMAND --help, README: Configuration)."] =
    "Vérifiez le réglage indiqué ci-dessus (kiva COMMANDE --help, README : Configuration).",
  ["Check the file named above."] = "Vérifiez le fichier indiqué ci-dessus.",
  ["Kiva could not be reached or is busy: run the same command again later; nothing is sent twice."] =
    "Kiva est injoignable ou surchargé : relancez la même commande plus tard ; rien n'est envoyé deux fois.",
  ["Another kiva run holds the ledger: let it finish, or wait longer with --lock-wait."] =
    "Une autre exécution de kiva tient le registre : laissez-la finir, ou attendez plus avec --lock-wait.",
}
